"""The broker side: partition logs, replication, the controller and elections."""
