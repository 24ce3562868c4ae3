"""Policy gradient in plain PyTorch over bidsim's vector environment: one Gaussian policy over the log
bid multiplier, shared by every agent (its context features in the observation tell agents apart),
trained by REINFORCE with reward-to-go and a per-step mean baseline.

    PYTHONPATH=build/python /usr/bin/python3 python/examples/train_pg.py --iterations 30
"""
import argparse

import numpy as np
import torch

import bidsim


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="bpg-10")
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    env = bidsim.VectorEnv(args.scenario, overrides={"market.envs": args.envs}, seed=args.seed)
    width = env.single_observation_space.shape[0]
    mean_net = torch.nn.Sequential(torch.nn.Linear(width, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    log_std = torch.nn.Parameter(torch.tensor(-1.0))
    optimizer = torch.optim.Adam(list(mean_net.parameters()) + [log_std], lr=args.lr)
    steps = env.market.steps

    returns = []
    obs, _ = env.reset()
    for iteration in range(args.iterations):
        log_probs, rewards = [], []
        for _ in range(steps):                         # one episode of every (env, agent) pair
            observation = torch.from_numpy(obs.copy())  # obs views the engine's buffer: copy before stepping
            dist = torch.distributions.Normal(mean_net(observation).squeeze(-1), log_std.exp())
            action = dist.sample()
            log_probs.append(dist.log_prob(action))
            obs, reward, terminated, _, infos = env.step(action.exp().numpy())
            rewards.append(torch.from_numpy(np.array(reward, dtype=np.float32)))
        assert terminated.all()                        # same-step autoreset: obs is the next episode's
        reward_to_go = torch.flip(torch.cumsum(torch.flip(torch.stack(rewards), [0]), 0), [0])
        advantage = reward_to_go - reward_to_go.mean(dim=1, keepdim=True)
        advantage = advantage / (advantage.std() + 1e-8)
        loss = -(torch.stack(log_probs) * advantage).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        episode_return = float(infos["final_return"].mean())
        returns.append(episode_return)
        print(f"iteration {iteration + 1:3d}  mean return per agent {episode_return:8.3f}  "
              f"policy std {float(log_std.exp()):.3f}")
    return returns


if __name__ == "__main__":
    main()
