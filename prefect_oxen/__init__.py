"""prefect-oxen: Prefect 3 integration for Oxen.ai video generation."""
