"""veokit: reliable, durable, cost-aware Veo video generation."""
__version__ = "0.1.0"
