package web

// registerRewardRoutes registers the reward routes. Owned by the reward feature.
func (s *Server) registerRewardRoutes() {}
