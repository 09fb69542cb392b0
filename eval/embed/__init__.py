"""The ``cola-embed`` tool: embeddings of a folder of audio files with any HEAR module."""
