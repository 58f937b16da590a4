"""What keeps messages safe across crashes and processes: the inbox of received updates
(durable intake) and its worker."""
