#!/usr/bin/env python3
"""Security of Tapchain's vaults in numbers.

The custody set of n validators is dealt at random into ceil(n/K) vaults of near-equal size
(primitives/src/vault.rs). A vault of k members signs with threshold t = floor(2k/3)+1, so
an adversary holding

  - t seats of one vault can sign alone: it can steal that vault's bitcoin (safety), and
  - k-t+1 seats of one vault can refuse to sign: it can freeze that vault (liveness).

For an adversary holding a share of the seats (seats follow stake: a validator set elected
by stake gives an adversary with p of the stake about p*n seats, however it splits them),
this prints the exact probability that a uniformly random partition gives it a threshold,
or a blocking third, of *some* vault. The partition deals seats round by round, which
spreads an adversary's seats at least as evenly as a uniform partition, so these figures
are upper bounds for it.

The counts are exact (multivariate hypergeometric, integer arithmetic); `--self-test`
checks them against enumerating every partition of a small set.

Usage: scripts/vault_security.py [--validators 1000] [--vault-size 100]
                                 [--adversary 0.10,0.20,0.33] [--markdown] [--self-test]
"""

import argparse
import itertools
import math
from fractions import Fraction


def vault_sizes(validators, vault_size):
    vaults = max(1, -(-validators // vault_size))
    base, large = divmod(validators, vaults)
    return [base + 1] * large + [base] * (vaults - large)


def threshold(members):
    return members * 2 // 3 + 1


def p_every_vault_below(validators, sizes, adversary_seats, limit_of):
    """P(no vault i holds >= limit_of(size_i) adversary seats), for a uniform partition."""
    # ways[a] = number of ways to seat `a` adversaries in the vaults seen so far, every one
    # of them below its limit (each vault's seats chosen among its members).
    ways = [1] + [0] * adversary_seats
    for size in sizes:
        limit = limit_of(size)
        next_ways = [0] * (adversary_seats + 1)
        for placed, count in enumerate(ways):
            if count == 0:
                continue
            for here in range(0, min(limit - 1, size, adversary_seats - placed) + 1):
                next_ways[placed + here] += count * math.comb(size, here)
        ways = next_ways
    return Fraction(ways[adversary_seats], math.comb(validators, adversary_seats))


def p_some_vault_safety(validators, sizes, seats):
    return 1 - p_every_vault_below(validators, sizes, seats, threshold)


def p_some_vault_liveness(validators, sizes, seats):
    return 1 - p_every_vault_below(validators, sizes, seats, lambda k: k - threshold(k) + 1)


def brute_force(validators, sizes, seats, limit_of):
    """Enumerates every choice of adversary seats (vault membership fixed by position)."""
    bounds = []
    start = 0
    for size in sizes:
        bounds.append((start, start + size, limit_of(size)))
        start += size
    good = total = 0
    for chosen in itertools.combinations(range(validators), seats):
        total += 1
        if all(sum(lo <= c < hi for c in chosen) < limit for lo, hi, limit in bounds):
            good += 1
    return Fraction(good, total)


def self_test():
    for validators, vault_size in [(9, 3), (10, 4), (12, 5), (7, 7)]:
        sizes = vault_sizes(validators, vault_size)
        for seats in range(validators + 1):
            for limit_of in (threshold, lambda k: k - threshold(k) + 1):
                exact = p_every_vault_below(validators, sizes, seats, limit_of)
                assert exact == brute_force(validators, sizes, seats, limit_of), (
                    validators, vault_size, seats)
    print("self-test: exact counts agree with enumeration")


def fmt(probability):
    if probability == 0:
        return "0"
    if probability >= Fraction(1, 1000):
        return f"{float(probability):.3f}"
    # Below a float's range for the smallest: log10 of the exact integers.
    exponent = math.log10(probability.numerator) - math.log10(probability.denominator)
    whole = math.floor(exponent)
    return f"{10 ** (exponent - whole):.1f}e{whole}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--validators", type=int, default=1000)
    parser.add_argument("--vault-size", type=int, default=100)
    parser.add_argument("--adversary", default="0.10,0.20,0.33")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return

    n = args.validators
    sizes = vault_sizes(n, args.vault_size)
    k = max(sizes)
    t = threshold(k)
    header = (f"n = {n}, K = {args.vault_size}: {len(sizes)} vaults of {min(sizes)}-{k}, "
              f"threshold {t}, blocking {k - t + 1}")
    rows = []
    for share in (float(s) for s in args.adversary.split(",")):
        seats = math.floor(share * n)
        safety = p_some_vault_safety(n, sizes, seats)
        liveness = p_some_vault_liveness(n, sizes, seats)
        rows.append((f"{share:.0%}", seats, fmt(safety), fmt(liveness)))
    if args.markdown:
        print(f"{header}\n")
        print("| adversary stake | seats | P(threshold of some vault): can steal | "
              "P(blocking third of some vault): can freeze |")
        print("| --- | --- | --- | --- |")
        for share, seats, safety, liveness in rows:
            print(f"| {share} | {seats} | {safety} | {liveness} |")
    else:
        print(header)
        print(f"{'adversary':>10} {'seats':>6} {'P(steal)':>12} {'P(freeze)':>12}")
        for share, seats, safety, liveness in rows:
            print(f"{share:>10} {seats:>6} {safety:>12} {liveness:>12}")
    # The economic bound: a vault holds at most ratio * its members' stake S. A signature
    # does not say which members signed, so every member is slashed pro rata, in all a
    # penalty of X * S / P for a theft of X (P: the stake of the poorest t members; k/t * X
    # with equal stakes): any t members lose at least X. The penalty is capped at S, so theft
    # never pays while X <= P, i.e. ratio <= t/k with equal stakes.
    print(f"\ntheft slashes the vault's members k/t = {k}/{t} = {k / t:.3f} times what it took "
          f"(equal stakes); it never pays while the capacity ratio is at most "
          f"t/k = {t}/{k} = {t / k:.3f}")

if __name__ == "__main__":
    main()
