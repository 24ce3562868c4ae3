#!/usr/bin/python3
"""Reference frontier of the MESOB auction game: min Expl(π) subject to F(Γ(π)) >= f, by a generic
constrained optimizer (scipy SLSQP) with multistart, independent of bidsim's C++ solvers.

The game is re-implemented here from the paper (MESOB, §3.1 and Appendix A, eqs. 7-9): states are CTR
levels, actions bid levels, n bidders per auction, second price on score = CTR x bid, ties split as in
eq. (8) (equal scores of different (CTR, bid) pairs tie too). Transitions are the identity (§3.1), so a
consistent flow keeps the state masses: d_t(s, .) in mu0(s) Delta(A) for every t, and exploitability
(eq. 5) is the sum over slices of sum_s mu0(s) max_a r_t(s, a) - sum_{s,a} d_t(s, a) r_t(s, a).

The non-smooth max is lifted into an epigraph variable w_t(s) >= r_t(s, a), so every function SLSQP sees
is smooth: minimize sum mu0 w - sum d r(d) subject to w - r(d) >= 0, F(d) >= f, the row sums. Gradients
are central finite differences, perturbing one (s, a) in every slice at once (slices do not interact,
so the Jacobian is block diagonal and costs S*A evaluations whatever the horizon).

Usage: mesob_reference_frontier.py [--horizon T] [--levels K] [--starts M] [--seed S] --out FILE.csv
Writes FILE.csv (one row per welfare level: level, exploitability, welfare, V1..V3) and FILE.json
(F_max, the least exploitable point found, the settings). Same seed => same output.
"""
import argparse
import json
import math
import sys
import time

import numpy as np
from scipy.optimize import minimize


class Game:
    """The MESOB auction with flat pairs p = s * A + a; arrays over slices are [T+1, S*A]."""

    def __init__(self, ctr, bids, bidders, value, horizon, mu0=None, coefficients=(1 / 3, 1 / 3, 1 / 3),
                 epsilon=(1e-5, 1e-5, 1e-5, 1e-5)):
        self.ctr = np.asarray(ctr, float)
        self.bids = np.asarray(bids, float)
        self.S, self.A = len(self.ctr), len(self.bids)
        self.SA = self.S * self.A
        self.n = int(bidders)
        self.value = float(value)
        self.T1 = int(horizon) + 1
        self.mu0 = np.full(self.S, 1.0 / self.S) if mu0 is None else np.asarray(mu0, float)
        self.c = coefficients
        self.eps = epsilon
        score = np.outer(self.ctr, self.bids).ravel()
        # Distinct scores (equal to 1e-12 relative share one index, so their holders tie).
        order = np.argsort(score, kind="stable")
        self.score_index = np.empty(self.SA, int)
        distinct = []
        for p in order:
            if distinct and abs(score[p] - distinct[-1]) <= 1e-12 * max(1.0, abs(score[p])):
                self.score_index[p] = len(distinct) - 1
            else:
                distinct.append(score[p])
                self.score_index[p] = len(distinct) - 1
        self.scores = np.array(distinct)
        self.m = len(distinct)
        # Share of a tie among i + 1 bidders times C(n-1, i).
        self.tie_coef = np.array([math.comb(self.n - 1, i) / (i + 1) for i in range(self.n)])
        self.pair_ctr = np.repeat(self.ctr, self.A)
        self.pair_bid = np.tile(self.bids, self.S)
        self.row_mass = np.tile(np.repeat(self.mu0, self.A), (self.T1, 1))  # mu0(s) per pair, per slice

    def metrics(self, d):
        """d [T+1, S*A] -> (ctr, sale, cpc, reward), each [T+1, S*A] (eq. 8 win shares, Appendix A)."""
        mass = np.zeros((d.shape[0], self.m))
        np.add.at(mass, (slice(None), self.score_index), d)
        below = np.cumsum(mass, axis=1) - mass                     # Lambda_k
        k = np.arange(self.n)
        win = (self.tie_coef * below[..., None] ** (self.n - 1 - k) * mass[..., None] ** k).sum(-1)
        solo = below ** (self.n - 1)
        tie = win - solo
        # Highest other score equals u_j with probability (Lambda_j + lambda_j)^(n-1) - Lambda_j^(n-1).
        top = ((below + mass) ** (self.n - 1) - solo) * self.scores
        solo_pay = np.cumsum(top, axis=1) - top
        w, t, q = win[:, self.score_index], tie[:, self.score_index], solo_pay[:, self.score_index]
        ctr = w * self.pair_ctr
        sale = ctr * self.value
        cpc = q + t * self.pair_bid * self.pair_ctr
        return ctr, sale, cpc, sale - cpc

    def welfare(self, d):
        """F of eq. (7) and (V1, V2, V3) of eq. (2) for d [T+1, S*A]."""
        ctr, sale, cpc, _ = self.metrics(d)
        v1, v2, v3 = (d * ctr).sum(), (d * sale).sum(), (d * cpc).sum()
        return self.link(v1, v2, v3), (v1, v2, v3)

    def link(self, v1, v2, v3):
        c1, c2, c3 = self.c
        e0, e1, e2, e3 = self.eps
        return c1 * math.log(v1 + e1) + c2 * math.log(v2 / (v1 * v3 + e0) + e2) + c3 * math.log(v1 * v3 + e3)

    def exploitability(self, d):
        """Eq. (5) for a consistent d (rows on mu0(s) Delta(A), identity transitions)."""
        r = self.metrics(d)[3].reshape(self.T1, self.S, self.A)
        best = r.max(axis=2)                                       # [T+1, S]
        return float((self.mu0 * best).sum() - (d.reshape(self.T1, self.S, self.A) * r).sum())


def slice_jacobian(fn, d, h=1e-7):
    """J[t, q, p] = d fn(d)[t, q] / d d[t, p] for a slice-local fn: [T+1, S*A] -> [T+1, Q]."""
    T1, SA = d.shape
    cols = []
    for p in range(SA):
        up, down = d.copy(), d.copy()
        up[:, p] += h
        down[:, p] -= h
        cols.append((fn(up) - fn(down)) / (2 * h))
    return np.stack(cols, axis=2)


class Problem:
    """The epigraph NLP over x = (d [T+1*S*A], w [T+1*S])."""

    def __init__(self, game):
        self.g = game
        self.nd = game.T1 * game.SA
        self.nw = game.T1 * game.S

    def split(self, x):
        return x[:self.nd].reshape(self.g.T1, self.g.SA), x[self.nd:].reshape(self.g.T1, self.g.S)

    def objective(self, x):
        d, w = self.split(x)
        r = self.g.metrics(d)[3]
        return float((self.g.mu0 * w).sum() - (d * r).sum())

    def objective_grad(self, x):
        d, w = self.split(x)
        per_slice = lambda dd: (dd * self.g.metrics(dd)[3]).sum(axis=1, keepdims=True)
        j = slice_jacobian(per_slice, d)[:, 0, :]                  # [T+1, S*A]
        return np.concatenate([-j.ravel(), np.tile(self.g.mu0, self.g.T1)])

    def best_response(self, x):                                   # w_t(s) - r_t(s, a) >= 0
        d, w = self.split(x)
        r = self.g.metrics(d)[3]
        return (np.repeat(w, self.g.A, axis=1) - r).ravel()

    def best_response_jac(self, x):
        d, _ = self.split(x)
        g = self.g
        jr = slice_jacobian(lambda dd: g.metrics(dd)[3], d)       # [T+1, S*A, S*A]
        jac = np.zeros((g.T1 * g.SA, self.nd + self.nw))
        for t in range(g.T1):
            rows = slice(t * g.SA, (t + 1) * g.SA)
            jac[rows, t * g.SA:(t + 1) * g.SA] = -jr[t]
            for p in range(g.SA):
                jac[t * g.SA + p, self.nd + t * g.S + p // g.A] = 1.0
        return jac

    def welfare(self, x):
        return self.g.welfare(self.split(x)[0])[0]

    def welfare_grad(self, x):
        d, _ = self.split(x)
        g = self.g
        ctr, sale, cpc, _ = g.metrics(d)
        v = [(d * ctr).sum(), (d * sale).sum(), (d * cpc).sum()]
        h = 1e-7
        dF = []
        for k in range(3):                                         # dF/dV_k by central differences
            up, down = list(v), list(v)
            up[k] += h
            down[k] -= h
            dF.append((g.link(*up) - g.link(*down)) / (2 * h))
        def contributions(dd):
            c, s_, p, _ = g.metrics(dd)
            return np.stack([(dd * c).sum(1), (dd * s_).sum(1), (dd * p).sum(1)], axis=1)
        jv = slice_jacobian(contributions, d)                      # [T+1, 3, S*A]
        grad_d = sum(dF[k] * jv[:, k, :] for k in range(3))
        return np.concatenate([grad_d.ravel(), np.zeros(self.nw)])

    def rows_eq(self, x):
        d, _ = self.split(x)
        return (d.reshape(self.g.T1, self.g.S, self.g.A).sum(2) - self.g.mu0).ravel()

    def rows_eq_jac(self):
        g = self.g
        jac = np.zeros((g.T1 * g.S, self.nd + self.nw))
        for t in range(g.T1):
            for s in range(g.S):
                jac[t * g.S + s, t * g.SA + s * g.A:t * g.SA + (s + 1) * g.A] = 1.0
        return jac

    def start(self, d):
        """x for a consistent d with the tightest epigraph w = max_a r."""
        r = self.g.metrics(d)[3].reshape(self.g.T1, self.g.S, self.g.A)
        return np.concatenate([d.ravel(), r.max(2).ravel()])


def random_consistent(game, rng, concentration):
    rows = rng.dirichlet(np.full(game.A, concentration), size=(game.T1, game.S))
    return (rows * game.mu0[None, :, None]).reshape(game.T1, game.SA)


def stationary(game, pi_rows):
    """d for one policy [S, A] repeated over slices."""
    return np.tile((np.asarray(pi_rows) * game.mu0[:, None]).ravel(), (game.T1, 1))


def starts_for(game, rng, count):
    """Uniform, every pure stationary 'all states bid level a' policy, and random Dirichlet points."""
    out = [stationary(game, np.full((game.S, game.A), 1.0 / game.A))]
    for a in range(game.A):
        pure = np.zeros((game.S, game.A))
        pure[:, a] = 1
        out.append(stationary(game, pure))
    while len(out) < count:
        out.append(random_consistent(game, rng, [0.3, 1.0, 3.0][len(out) % 3]))
    return out


def solve(problem, x0, level=None, maximize_welfare=False):
    bounds = [(0.0, None)] * problem.nd + [(None, None)] * problem.nw
    cons = [{"type": "eq", "fun": problem.rows_eq, "jac": lambda x: problem.rows_eq_jac()}]
    if maximize_welfare:
        fun, jac = (lambda x: -problem.welfare(x)), (lambda x: -problem.welfare_grad(x))
    else:
        fun, jac = problem.objective, problem.objective_grad
        cons.append({"type": "ineq", "fun": problem.best_response, "jac": problem.best_response_jac})
        if level is not None:
            cons.append({"type": "ineq", "fun": lambda x: problem.welfare(x) - level,
                         "jac": problem.welfare_grad})
    res = minimize(fun, x0, jac=jac, bounds=bounds, constraints=cons, method="SLSQP",
                   options={"maxiter": 500, "ftol": 1e-13})
    return res


def clean(game, x, problem):
    """The consistent d nearest to SLSQP's x (clip tiny negatives, renormalize rows)."""
    d = np.clip(problem.split(x)[0], 0.0, None).reshape(game.T1, game.S, game.A)
    d = d / d.sum(2, keepdims=True) * game.mu0[None, :, None]
    return d.reshape(game.T1, game.SA)


def evaluate(game, d):
    f, (v1, v2, v3) = game.welfare(d)
    return {"exploitability": game.exploitability(d), "welfare": f, "V1": v1, "V2": v2, "V3": v3}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--horizon", type=int, default=0)
    ap.add_argument("--ctr", type=float, nargs="+", default=[0.2, 0.4, 0.6])
    ap.add_argument("--bids", type=float, nargs="+", default=[0, 1.25, 2.5, 3.75, 5])
    ap.add_argument("--bidders", type=int, default=5)
    ap.add_argument("--value", type=float, default=2.0)
    ap.add_argument("--levels", type=int, default=21, help="welfare levels from the equilibrium's F to max F")
    ap.add_argument("--starts", type=int, default=12, help="multistart points per level")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True, help="CSV path; the JSON goes next to it")
    a = ap.parse_args(argv)
    if a.horizon < 0 or a.levels < 2 or a.starts < 1 or a.bidders < 2:
        sys.exit("mesob_reference_frontier.py: expected --horizon >= 0, --levels >= 2, --starts >= 1, --bidders >= 2")
    began = time.time()
    game = Game(a.ctr, a.bids, a.bidders, a.value, a.horizon)
    problem = Problem(game)
    rng = np.random.default_rng(a.seed)
    starts = starts_for(game, rng, a.starts)

    # Max F (mean-field control) by multistart.
    best_max = None
    for d0 in starts:
        res = solve(problem, problem.start(d0), maximize_welfare=True)
        d = clean(game, res.x, problem)
        point = evaluate(game, d)
        if best_max is None or point["welfare"] > best_max[0]["welfare"]:
            best_max = (point, d)
    f_max = best_max[0]["welfare"]

    # The least exploitable point (an equilibrium when it reaches 0), then the frontier level by level,
    # each level from every start and from the previous level's solution (continuation).
    def min_expl(level, extra):
        best = None
        for d0 in starts + extra:
            res = solve(problem, problem.start(d0), level=level)
            d = clean(game, res.x, problem)
            point = evaluate(game, d)
            if level is not None and point["welfare"] < level - 1e-9:
                continue                                           # infeasible after cleaning
            if best is None or point["exploitability"] < best[0]["exploitability"]:
                best = (point, d)
        return best

    eq_point, eq_d = min_expl(None, [best_max[1]])
    f_eq = eq_point["welfare"]
    rows = []
    previous = [eq_d]
    for k in range(a.levels):
        level = f_eq + (f_max - f_eq) * k / (a.levels - 1)
        found = min_expl(level, previous + [best_max[1]])
        if found is None:
            continue
        previous = [found[1]]
        rows.append({"level": level, **found[0]})
        print(f"level {level:.6f}: exploitability {found[0]['exploitability']:.3e}, F {found[0]['welfare']:.6f}",
              file=sys.stderr)

    with open(a.out, "w") as f:
        f.write("level,exploitability,welfare,V1,V2,V3\n")
        for r in rows:
            f.write(",".join(repr(float(r[k])) for k in ("level", "exploitability", "welfare", "V1", "V2", "V3")) + "\n")
    meta = {"horizon": a.horizon, "ctr": a.ctr, "bids": a.bids, "bidders": a.bidders, "value": a.value,
            "levels": a.levels, "starts": a.starts, "seed": a.seed, "max_welfare": best_max[0],
            "least_exploitable": eq_point, "seconds": time.time() - began,
            "method": "scipy SLSQP, epigraph form, central finite-difference gradients, multistart + continuation"}
    json_path = a.out[:-4] + ".json" if a.out.endswith(".csv") else a.out + ".json"
    with open(json_path, "w") as f:
        json.dump(meta, f, indent=2)
    print(f"max F {f_max:.9f}; least exploitable {eq_point['exploitability']:.3e} at F {f_eq:.9f}; "
          f"{len(rows)} levels in {meta['seconds']:.1f} s -> {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
