"""A few real TRL GRPO steps on the CPU: SmolLM2-135M as the policy, `judge` as the reward.

    .venv/bin/python -m pip install trl        # not a dependency of judge: the example's own
    .venv/bin/python examples/grpo_trl.py [--steps 2]

The policy is the embedded model's weights (converted once into judge's cache); the reward is an
RLBFF binary principle judged by the same small model through `judge.integrations.trl`. It shows
the wiring, not a useful training run: a 135M judge's rewards are weak. Each step prints TRL's
log line, with the judge's `judge/unparsed_share` among the metrics.
"""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--output", default="/tmp/judge-grpo-example")
    args = parser.parse_args()

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from judge.integrations.trl import trl_reward
    from judge.rewards import PrincipleReward
    from judge_transformers.convert import convert_embedded

    policy = str(convert_embedded())  # the embedded GGUF as a Hugging Face folder
    questions = ["How many legs does a spider have?", "What is 7 times 6?", "Name the largest planet.",
                 "How many days are in a week?", "What is the boiling point of water in Celsius?",
                 "How many continents are there?", "What is 12 squared?", "How many sides does a hexagon have?"]
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": q}]} for q in questions])
    reward = PrincipleReward(["The response contains a number."])  # the embedded model judges
    config = GRPOConfig(output_dir=args.output, max_steps=args.steps, per_device_train_batch_size=4, num_generations=4,
                        max_completion_length=24, logging_steps=1, report_to=[], use_cpu=True, save_strategy="no",
                        learning_rate=1e-6)
    trainer = GRPOTrainer(model=policy, reward_funcs=[trl_reward(reward, name="judge")], args=config, train_dataset=dataset)
    trainer.train()


if __name__ == "__main__":
    main()
