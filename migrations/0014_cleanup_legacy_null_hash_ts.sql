-- Legacy rows without a hash or a first_seen are unusable; children first
-- (observations reference transmissions without ON DELETE).
DELETE FROM observations WHERE transmission_id IN
    (SELECT id FROM transmissions WHERE hash = '' OR first_seen = '');
DELETE FROM transmissions WHERE hash = '' OR first_seen = '';
