"""What the experiment reports (tools/*_report.py) share: mean ± std formatting and the number of environments
one BPG iteration simulates. Plain python3; imported by the reports from their own folder."""
import statistics


def mean_std(xs, digits=2, signed=False):
    """'mean ± std' of xs (sample std; 0 for one value; '–' for none), the mean with a sign when signed."""
    if not xs:
        return "–"
    s = statistics.stdev(xs) if len(xs) > 1 else 0.0
    sign = "+" if signed else ""
    return f"{statistics.mean(xs):{sign}.{digits}f} ± {s:.{digits}f}"


def bpg_environments_per_iteration(envs, agents, unified_steps, dual_envs_per_agent, dual_max_envs, binding):
    """Environments one BPG iteration simulates (rl/trainer.cpp, Algorithm 1): the θ batch (envs); x* learning,
    unified_steps × (x* batch + the paired θ batch); the dual batch of eq. (13) twice (x* and θ on the same
    draws), dual_envs_per_agent environments for each of min(agents, dual_max_envs / dual_envs_per_agent)
    agents; and the ν̄ and x* batches of L_s / L*_w only when the constraint binds (λ̄ > 0)."""
    dual = min(agents, max(1, dual_max_envs // dual_envs_per_agent)) * dual_envs_per_agent
    return envs + 2 * unified_steps * envs + 2 * dual + (2 * envs if binding else 0)
