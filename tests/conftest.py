import torch

# Small models on a 2-core machine: one thread per process avoids OpenMP
# oversubscription, which made a tiny MLP 35x slower under load (measured).
torch.set_num_threads(1)
