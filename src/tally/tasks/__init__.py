"""Tasks as the API shows them: tasks/status, and the status data feedback deliveries carry."""
