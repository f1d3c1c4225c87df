package web

// registerAccountRoutes registers the account routes. Owned by the account feature.
func (s *Server) registerAccountRoutes() {}
