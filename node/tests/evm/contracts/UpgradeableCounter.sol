// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts/proxy/utils/UUPSUpgradeable.sol";
// Compiled alongside so the test deploys OpenZeppelin's own proxy.
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";

/// Version 1 of a UUPS-upgradeable counter behind OpenZeppelin's ERC1967Proxy.
contract UpgradeableCounter is Initializable, UUPSUpgradeable {
    address public owner;
    uint256 public count;

    constructor() {
        _disableInitializers();
    }

    function initialize(address owner_) external initializer {
        owner = owner_;
    }

    function increment() external {
        count += 1;
    }

    function version() external pure virtual returns (uint256) {
        return 1;
    }

    function _authorizeUpgrade(address) internal view override {
        require(msg.sender == owner, "UpgradeableCounter: not the owner");
    }
}

/// Version 2: same storage, counts by ten.
contract UpgradeableCounterV2 is UpgradeableCounter {
    function incrementByTen() external {
        count += 10;
    }

    function version() external pure override returns (uint256) {
        return 2;
    }
}
