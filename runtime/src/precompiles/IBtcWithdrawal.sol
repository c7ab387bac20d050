// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Tapchain BTC bridge: withdrawals to Bitcoin from the EVM.
/// @notice Precompile at 0x000000000000000000000000000000000B7C0000.
/// Amounts are in wei: BTC has 18 decimals here, so 1 satoshi = 10^10 wei and a withdrawal
/// must be a whole number of satoshis. The amount is burned from the caller (a wallet or a
/// contract) and paid to the Bitcoin address, minus the request's share of the Bitcoin fee,
/// once two thirds of the validators approved the transaction and the custody key signed it.
interface IBtcWithdrawal {
    /// @notice A withdrawal was burned and queued.
    event WithdrawalRequested(uint64 indexed id, address indexed owner, string btcAddress, uint256 amount);

    /// @notice Burns `amount` wei from the caller and queues a payment to `btcAddress`
    /// (bech32/bech32m segwit v0/v1 or base58 P2PKH/P2SH of the chain's Bitcoin network).
    /// Reverts with the reason for a bad address, an amount that is not whole satoshis or is
    /// below `minimumWithdrawal`, more than the bridged BTC outstanding, an insufficient
    /// balance (the caller keeps its existential deposit), or value sent with the call
    /// (`NonPayable`: the amount is the argument).
    /// @return id The withdrawal's id (see `withdrawal`).
    function requestWithdrawal(string calldata btcAddress, uint256 amount) external returns (uint64 id);

    /// @notice Smallest amount, in wei, a withdrawal to `btcAddress` may have at today's fee rate.
    function minimumWithdrawal(string calldata btcAddress) external view returns (uint256 amount);

    /// @notice Where a withdrawal stands.
    /// @return status 0 unknown, 1 queued, 2 proposed, 3 signed, 4 paid, 5 refunded
    /// @return amountSats The amount burned, in satoshis.
    /// @return txid The paying Bitcoin transaction (display byte order, as explorers show it), once proposed.
    function withdrawal(uint64 id) external view returns (uint8 status, uint64 amountSats, bytes32 txid);

    /// @notice The Bitcoin address deposits pay now (empty before the first custody key).
    function depositAddress() external view returns (string memory);
}
