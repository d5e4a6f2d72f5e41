"""The built-in synth: preset documents, the rendering engine and the seeded factory bank."""
