package jobs

import "net/http"

// HTTPServer exposes the Server's http.Server to the tests.
func (s *Server) HTTPServer() *http.Server { return s.srv }
