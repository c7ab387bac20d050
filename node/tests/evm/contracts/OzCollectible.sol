// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// OpenZeppelin's ERC-721 with an open mint.
contract OzCollectible is ERC721 {
    constructor() ERC721("OZ Collectible", "OZC") {}

    function mint(address to, uint256 tokenId) external {
        _safeMint(to, tokenId);
    }
}
