"""Matching: audio in, per-family closest catalogue entries out. Below the daemon: the socket
server, the CLI's in-process route, the page and the public API all match through it."""
