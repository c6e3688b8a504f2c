"""Re-executing a recorded session with the recorded model answers."""
