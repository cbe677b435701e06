-- The dashboard's "recent payments" walks payments newest first and stops after a handful in scope.
CREATE INDEX payments_received ON payments (received_at);
