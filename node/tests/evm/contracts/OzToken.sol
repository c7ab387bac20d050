// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// OpenZeppelin's ERC-20 as projects use it: inherited, with the supply minted to the deployer.
contract OzToken is ERC20 {
    constructor(uint256 supply) ERC20("OZ Token", "OZT") {
        _mint(msg.sender, supply);
    }
}
