"""Populations: K trials that share a shape trained as one batched model (docs/population.md).

Every parameter and buffer of a batched module carries the member axis first
(K, ...); inputs and outputs are (K, N, ...). A member's weights convert to and
from the state dict of the plain module in gan_core/models, so a member starts
exactly as a plain trial would and exports back to one.
"""
