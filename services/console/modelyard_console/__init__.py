"""The Modelyard console: a browser's view of the platform, holding no data of its own."""
