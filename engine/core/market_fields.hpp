// The fields of market state, listed once for both backends: MarketState's host vectors, the CUDA
// backend's device buffers, their sizing, zeroing and download, and MarketView's pointers are all
// generated from these lists (docs/gpu-design.md, "Adding a field of market state").
// X-macros rather than a constexpr table: a table can describe fields but cannot declare the struct
// members and the kernels' view pointers themselves, and C++17 has no reflection to derive them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bidsim {

// The shape class of a field; MarketDims::elements gives its element count.
enum class FieldShape {
  agents,              // [E][N]
  agent_observations,  // [E][N][kObservationWidth]
  envs,                // [E]
  env_steps,           // [E][T]
  agent_slots,         // [E][N][S]
  env_slot_rows,       // [E][N x S + 1]
};

// What the lists say about one field, for code that walks them (MarketState::for_each_field).
struct FieldInfo {
  const char* name;
  FieldShape shape;
  bool zeroed;
};

// The sizes a field's shape is made of.
struct MarketDims {
  int envs = 0, agents = 0, steps = 0, slots = 0, observation_width = 0;

  constexpr std::size_t elements(FieldShape shape) const {
    const std::size_t E = static_cast<std::size_t>(envs), N = static_cast<std::size_t>(agents);
    switch (shape) {
      case FieldShape::agents: return E * N;
      case FieldShape::agent_observations: return E * N * static_cast<std::size_t>(observation_width);
      case FieldShape::envs: return E;
      case FieldShape::env_steps: return E * static_cast<std::size_t>(steps);
      case FieldShape::agent_slots: return E * N * static_cast<std::size_t>(slots);
      case FieldShape::env_slot_rows: return E * (N * static_cast<std::size_t>(slots) + 1);
    }
    return 0;
  }
};

// Each list calls X(name, element type, FieldShape, zeroed) once per field. Comments are /* */ so
// they survive the line continuations. Money is engine/core/money.hpp's exact int64 ticks; "units" are
// money units (doubles converted from the exact accounts, for outputs and observations only).

// The state both backends keep and the host reads: MarketState members on the host, device buffers
// downloaded by CudaBackend::state(), MarketView pointers. `zeroed`: reset() zeroes it; the others
// reset() writes itself (budgets, first observations).
#define BIDSIM_MARKET_STATE_FIELDS(X)                                                                            \
  X(remaining_money, ::bidsim::Money, agents, false)   /* remaining budget, exact; kUnlimitedMoney if infinite */ \
  X(cost_money, ::bidsim::Money, agents, true)         /* spent so far this episode, exact */                    \
  X(value_money, ::bidsim::Money, agents, true)        /* value won (exposed wins) so far, exact */              \
  X(step_cost_money, ::bidsim::Money, agents, true)    /* cost of the step just run, exact */                    \
  X(step_value_money, ::bidsim::Money, agents, true)   /* value of the step just run, exact */                   \
  X(revenue_money, ::bidsim::Money, envs, true)        /* revenue so far (all agents' cost), exact */            \
  X(remaining_budget, double, agents, false)           /* units, from remaining_money */                         \
  X(cost, double, agents, true)                        /* units, from cost_money */                              \
  X(value, double, agents, true)                       /* units, from value_money */                             \
  X(conversions, double, agents, true)                 /* realized conversions so far */                         \
  X(reward, double, agents, true)                      /* return G_i so far under the scenario's reward */       \
  X(wins, std::int64_t, agents, true)                  /* slots won (sold) so far */                             \
  X(exposures, std::int64_t, agents, true)             /* won slots that were shown, so far */                   \
  X(bid_count, std::int64_t, agents, true)             /* impressions bid on (qualifying bids), so far */        \
  X(step_cost, double, agents, true)                   /* units, the step just run */                            \
  X(step_value, double, agents, true)                  /* units, the step just run */                            \
  X(step_conversions, double, agents, true)            /* the step just run */                                   \
  X(step_reward, double, agents, true)                 /* the step just run */                                   \
  X(step_wins, std::int32_t, agents, true)             /* the step just run */                                   \
  X(step_exposures, std::int32_t, agents, true)        /* the step just run */                                   \
  X(step_bid_count, std::int32_t, agents, true)        /* the step just run */                                   \
  X(step_multiplier, float, agents, true)              /* the action applied (negatives and NaN as 0) */         \
  X(observation, float, agent_observations, false)     /* written after every step and at reset */               \
  X(passes, std::int32_t, env_steps, true)             /* auction passes the overspend rule used per step */

// Host-only MarketState members: the impressions reset() draws on the host (the CUDA backend keeps its
// host copy there) and revenue in units, converted from revenue_money on the host.
#define BIDSIM_HOST_STATE_FIELDS(X)                                                     \
  X(impressions, std::int32_t, env_steps, false) /* impressions per step, drawn by reset */ \
  X(revenue, double, envs, true)                 /* units, from revenue_money */

// Device-only state of the CUDA backend: device buffers and MarketView pointers, never downloaded.
// `zeroed`: zeroed once when allocated (the kernels keep it so); the others are written before read.
#define BIDSIM_DEVICE_STATE_FIELDS(X)                                                                               \
  X(multiplier_in, float, agents, true)            /* the actions of the next step (step() or a device policy) */ \
  X(active, std::uint8_t, agents, false)           /* the agent bids this step (budget above the floor) */        \
  X(pass_cost, ::bidsim::Money, agents, false)     /* exact step cost under the current outcome */                \
  X(over, std::uint8_t, agents, false)             /* the agent overspends this decision */                       \
  X(over_id, std::int32_t, agents, false)          /* dense id of an overspender this decision */                 \
  X(step_conversion_count, std::int32_t, agents, false) /* settle's conversion counts */                          \
  X(bucket_count, std::int32_t, agent_slots, true) /* wins per (overspender id, slot); zero between rounds */      \
  X(bucket_offset, std::int32_t, env_slot_rows, false) /* their exclusive scan; rows per env for the tail */      \
  X(env_mode, std::int32_t, envs, false)           /* EnvMode of the overspend rule this pass */                  \
  X(env_passes, std::int32_t, envs, false)         /* the CPU's `passes` counter */                               \
  X(env_done, std::int32_t, envs, false)           /* the env's rule has ended this step */

}  // namespace bidsim
