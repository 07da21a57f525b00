/* The Bastion core: one include for function modules. */
#ifndef BASTION_H
#define BASTION_H

#include "core.h"
#include "host.h"
#include "http.h"
#include "problem.h"
#include "ratelimit.h"
#include "encoding.h"
#include "crypto.h"
#include "json.h"
#include "webhook.h"
#include "webhook_event.h"
#include "idempotency.h"
#include "breaker.h"
#include "log.h"
#include "config.h"
#include "email.h"
#include "jwt.h"
#include "jwt_key.h"
#include "token.h"
#include "auth.h"
#include "session.h"
#include "password.h"
#include "formats.h"
#include "calendar.h"
#include "validate.h"
#include "input.h"
#include "rows.h"
#include "list.h"

#endif
