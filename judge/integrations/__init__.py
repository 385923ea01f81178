"""Bridges from other evaluation frameworks to the judge engine.

Each integration is its own module and imports its framework there, so `import judge` never
pays for (or requires) an optional framework: `judge.integrations.inspect` needs inspect-ai.
"""
