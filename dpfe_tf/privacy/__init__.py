"""Procedure 2: how much identity the private feature leaks, and at what accuracy.

``measures`` (log-rank privacy, rank statistics, 1-NN, the attacker's gallery/probe split),
``attackers`` (estimates of p(identity | feature): one module each, one result type, the worst
case taken in one place), ``noise`` (N(0, r C)), ``tradeoff`` (the accuracy-privacy curves and
Acc-Priv superiority), ``intervals`` (bootstrap) and ``evaluation`` (all of it on trained models).
"""
