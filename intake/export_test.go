package intake

// SlowOnly makes s write every batch event by event in savepoints, so the
// tests cover the path the set-based fast path falls back to.
func SlowOnly(s *Service) { s.slowOnly = true }

// Fallbacks returns how many batches s redid event by event.
func Fallbacks(s *Service) int64 { return s.fallbacks.Load() }
