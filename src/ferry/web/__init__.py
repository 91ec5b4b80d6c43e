"""Server-rendered pages: the self-service portal (the agent console comes next)."""
