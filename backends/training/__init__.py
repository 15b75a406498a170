"""LoRA fine-tuning shared by the fine-tuning and hybrid backends, one module per part of a run.

A plain torch loop (measured faster than `transformers.Trainer` on this workload, see
`benchmarks/bench_training.py`): supervised chat examples with the loss on the answer tokens only,
optional causal language modelling on document chunks, dynamic padding over length-sorted batches,
a seeded train/validation split, early stopping on validation loss and the best adapter kept.

- `config`: `TrainConfig`, the LoRA and loop settings, checked once;
- `examples`: training examples, the train/validation split, batches and padding;
- `lora`: attaching the adapter and the loss on the labelled positions;
- `loop`: `train_lora`, the loop itself, and what it measured;
- `saving`: the build folder, publishing it, the training record and loading the adapter.

Heavy imports (torch, transformers, peft, accelerate) happen inside functions.
"""
