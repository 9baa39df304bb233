"""The demo: a simulated coding agent, its task pack and the checker that scores its answers."""
