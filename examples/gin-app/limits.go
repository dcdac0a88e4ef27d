package main

import (
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// The sizes of the columns the handlers write (models.go), checked before a
// statement is built, so an over-long field gets a 422 that names it
// rather than the database's error; and the largest request body read.
const (
	projectNameLimit = 100
	taskTitleLimit   = 200
	labelNameLimit   = 50
	labelsPerTask    = 20
	maxBodyBytes     = 4 << 20
)

// boundBody stops reading a request body past maxBodyBytes.
func boundBody(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes)
	c.Next()
}

// bindJSON reads the body into v, or answers 413 for a body past
// maxBodyBytes and 400 with usage for one that is not the JSON expected.
func bindJSON(c *gin.Context, v any, usage string) bool {
	err := c.ShouldBindJSON(v)
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooLarge):
		c.JSON(http.StatusRequestEntityTooLarge, gin.H{"error": "body_too_large",
			"message": fmt.Sprintf("the request body is larger than %d bytes", maxBodyBytes)})
	default:
		c.JSON(http.StatusBadRequest, gin.H{"error": "bad_request", "message": usage})
	}
	return false
}

// required answers 400 with usage unless ok.
func required(c *gin.Context, ok bool, usage string) bool {
	if !ok {
		c.JSON(http.StatusBadRequest, gin.H{"error": "bad_request", "message": usage})
	}
	return ok
}

// withinLimit answers 422 naming field when value is longer than limit
// characters.
func withinLimit(c *gin.Context, field, value string, limit int) bool {
	if n := utf8.RuneCountInString(value); n > limit {
		c.JSON(http.StatusUnprocessableEntity, gin.H{"error": "too_long", "field": field,
			"message": fmt.Sprintf("%s is %d characters long; the limit is %d", field, n, limit)})
		return false
	}
	return true
}
