"""The rlm_python3 entry point: FreeRADIUS tuples <-> radbill.policy, snapshot kept live by LISTEN."""
