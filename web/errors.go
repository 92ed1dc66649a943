package web

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/lawfleet/fleet/fleet"
)

// Codes the HTTP layer adds to fleet's vocabulary, for failures that only
// a transport has.
const (
	ETOOLARGE  = "too_large"              // body over the limit
	EMEDIATYPE = "unsupported_media_type" // wrong Content-Type
	EMETHOD    = "method_not_allowed"
)

// statusOf is the one table from error code to HTTP status.
var statusOf = map[string]int{
	fleet.EINVALID:      http.StatusBadRequest,
	fleet.ENOTFOUND:     http.StatusNotFound,
	fleet.ECONFLICT:     http.StatusConflict,
	fleet.EUNAUTHORIZED: http.StatusUnauthorized,
	fleet.EFORBIDDEN:    http.StatusForbidden,
	fleet.EUNAVAILABLE:  http.StatusServiceUnavailable,
	fleet.EINTERNAL:     http.StatusInternalServerError,
	ETOOLARGE:           http.StatusRequestEntityTooLarge,
	EMEDIATYPE:          http.StatusUnsupportedMediaType,
	EMETHOD:             http.StatusMethodNotAllowed,
}

// ErrorBody is the JSON shape of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a classified failure: Code from fleet's vocabulary (plus
// too_large, unsupported_media_type, method_not_allowed), a message safe to
// show, and the input field at fault, if any.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// detailOf classifies err once.
func detailOf(err error) ErrorDetail {
	return ErrorDetail{Code: fleet.ErrorCode(err), Message: fleet.ErrorMessage(err), Field: fleet.ErrorField(err)}
}

// WriteError answers err as {"error":{code,message,field}} with the status
// of its code. Internal errors are logged with the request id and shown
// as "internal error"; nothing else is logged here, since the access log
// already has the status.
func WriteError(c *gin.Context, err error) {
	d := detailOf(err)
	status, ok := statusOf[d.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status == http.StatusInternalServerError {
		requestLogger(c).ErrorContext(c.Request.Context(), "request failed",
			"method", c.Request.Method, "route", c.FullPath(), "err", err)
		d = ErrorDetail{Code: fleet.EINTERNAL, Message: "internal error"}
	}
	if status == http.StatusRequestEntityTooLarge {
		// The rest of the body is not read; the connection cannot be reused.
		c.Header("Connection", "close")
	}
	c.AbortWithStatusJSON(status, ErrorBody{Error: d})
}

// requestLogger is the server's logger tagged with the request id.
func requestLogger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(ctxLogger); ok {
		if l, ok := l.(*slog.Logger); ok {
			return l
		}
	}
	return slog.New(slog.DiscardHandler)
}

// isCode reports whether err carries code.
func isCode(err error, code string) bool {
	var e *fleet.Error
	return errors.As(err, &e) && e.Code == code
}
