"""Network architectures that hear-wrappers implements itself, apart from the wrappers that use them.

Some models cannot be built from their authors' package without pulling in what an evaluation
environment cannot carry (``laion_clap`` pins numpy < 2 and imports torchvision, transformers and a
tokenizer download). For those we write the architecture here, with the official checkpoints' key
names, so their files load as they are, and test every output against the authors' code with random
weights (see ``tests/``). A module here holds an architecture and its fixed signal front ends only:
no weights resolution, no HEAR API, no long-clip policy; those stay in the model's HEAR module.

* `hear_wrappers.nets.clap_frontend`: LAION-CLAP's 48 kHz log-mel front ends (torchlibrosa's
  convolution STFT with slaney mels for the non-fusion models, torchaudio's HTK mels for the fusion
  models), without torchlibrosa, librosa or torchaudio.
* `hear_wrappers.nets.htsat`: HTS-AT (Chen et al., ICASSP 2022), the Swin transformer audio branch of
  LAION-CLAP, with its attentional-feature-fusion patch embedding; used by `hear_wrappers.clap`.
"""
