"""The DAW side: the Python protocol client, audio capture, and the native DPF plugin sources."""
