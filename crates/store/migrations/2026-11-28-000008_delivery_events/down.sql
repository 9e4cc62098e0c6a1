DROP TRIGGER deliveries_record_event ON deliveries;
DROP FUNCTION record_delivery_event();
DROP TABLE delivery_events;
