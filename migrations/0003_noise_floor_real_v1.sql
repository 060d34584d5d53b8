-- Integer-typed noise floors written by old versions become REAL.
UPDATE observers SET noise_floor = CAST(noise_floor AS REAL)
WHERE typeof(noise_floor) = 'integer';
