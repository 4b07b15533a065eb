"""State of synthesis: mined queries, rewrite candidates, curated synthetic pairs, rewriter versions."""
