"""Capture tests/fixtures/ls-1.23.2/session_whoami.json: how a real Label Studio 1.23.2 answers
`GET /api/current-user/whoami` with nothing but a browser's session cookie — what
LS_PRESIGN_LINK_POLICY=login relies on. Signs in through the login form as a browser does, keeps
the Set-Cookie attributes of `sessionid`, then asks whoami with the cookie, without it, with a
tampered one, and with the same cookie after the browser logged out.

    python3 scripts/capture_ls_session.py <venv with label-studio==1.23.2> <free port> <output file>

Starts Label Studio on 127.0.0.1 with a throwaway data directory, and stops it afterwards.
"""
import http.client
import json
import re
import sys
import urllib.parse

from ls_scratch import PASSWORD, USER, scratch_label_studio

venv, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
calls = []


def request(method, path, headers=None, body=None):
    """One request without following redirects: (status, headers as a list, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    answer = (r.status, r.getheaders(), r.read())
    conn.close()
    return answer


def set_cookies(headers):
    """name -> (value, attributes without the value) of every Set-Cookie."""
    found = {}
    for name, value in headers:
        if name.lower() == "set-cookie":
            first, _, attrs = value.partition(";")
            k, _, v = first.partition("=")
            # Expiry dates change with the clock; the attribute names are what matter.
            attrs = re.sub(r"expires=[^;]+", "expires=VOLATILE", attrs.strip(), flags=re.I)
            found[k.strip()] = (v, attrs)
    return found


def whoami(label, cookie):
    headers = {"Cookie": f"sessionid={cookie}"} if cookie is not None else {}
    status, _, body = request("GET", "/api/current-user/whoami", headers)
    answer = json.loads(body) if body else None
    if isinstance(answer, dict):
        for volatile in ("date_joined", "last_activity", "avatar", "token"):
            if volatile in answer:
                answer[volatile] = "VOLATILE"
    calls.append({"what": label, "request": {"method": "GET", "path": "/api/current-user/whoami",
                                             "cookie": None if cookie is None else "sessionid=<see what>"},
                  "status": status, "response": answer})
    return status


with scratch_label_studio(venv, port):
    status, headers, body = request("GET", "/user/login/")
    csrf = set_cookies(headers)["csrftoken"][0]
    middleware = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": middleware, "email": USER, "password": PASSWORD})
    status, headers, _ = request("POST", "/user/login/", {
        "Cookie": f"csrftoken={csrf}", "Content-Type": "application/x-www-form-urlencoded",
        "Referer": f"http://127.0.0.1:{port}/user/login/"}, form)
    session, attributes = set_cookies(headers)["sessionid"]
    login = {"what": "the login form, as a browser posts it", "status": status,
             "location": dict((k.lower(), v) for k, v in headers).get("location"),
             "set_cookie_sessionid_attributes": attributes}
    assert whoami("the session cookie alone", session) == 200
    assert whoami("no cookie", None) == 401
    assert whoami("the cookie with its signature changed", session[:-4] + "AAAA") == 401
    status, headers, _ = request("GET", "/logout", {"Cookie": f"sessionid={session}"})
    logout = {"what": "GET /logout", "status": status,
              "set_cookie_sessionid_attributes": set_cookies(headers).get("sessionid", ("", None))[1]}
    whoami("the same cookie, copied before the browser logged out", session)
    with open(out, "w") as f:
        json.dump({"captured_with": "scripts/capture_ls_session.py", "login": login, "logout": logout,
                   "calls": calls}, f, indent=2, ensure_ascii=False)
