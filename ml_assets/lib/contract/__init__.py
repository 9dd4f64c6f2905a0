"""The data contract and the dataset it describes: validation, inference, summary."""
