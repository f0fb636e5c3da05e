"""contrastrec: contrastive self-supervised learning for recommender systems."""

__version__ = "0.1.0"
