"""radbill: ISP billing with a live RADIUS policy engine."""
