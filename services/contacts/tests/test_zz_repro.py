import base64, json, io
import pytest
pytest_plugins = []

def b64(o): return base64.urlsafe_b64encode(json.dumps(o).encode()).decode().rstrip("=")

@pytest.fixture(params=["sqlite", "pg"])
def svc(request):
    return request.getfixturevalue("contacts_service" if request.param == "sqlite" else "pg_contacts")

def test_repro(svc):
    h = svc.headers("a")
    c = svc.client
    out = {}
    for i in range(3):
        c.post("/v1/contacts", json={"email": f"p{i}@a.com", "first_name": "x"}, headers=h)
    out["nul body"] = c.post("/v1/contacts", data='{"email":"n@a.com","first_name":"a\\u0000b"}', content_type="application/json", headers=h).status_code
    out["surrogate body"] = c.post("/v1/contacts", data='{"email":"n2@a.com","first_name":"\\ud800"}', content_type="application/json", headers=h).status_code
    out["deep"] = c.post("/v1/contacts", data='['*100000 + ']'*100000, content_type="application/json", headers=h).status_code
    out["q nul"] = c.get("/v1/contacts?q=a%00b", headers=h).status_code
    out["filter nul"] = c.get("/v1/contacts?filter=first_name%20%3D%20%27a%00b%27", headers=h).status_code
    page = c.get("/v1/contacts?sort=first_name&limit=1", headers=h).get_json()
    cur = json.loads(base64.urlsafe_b64decode(page["next_cursor"] + "=" * (-len(page["next_cursor"]) % 4)))
    print(cur)
    cur2 = dict(cur); cur2["v"] = ["a\u0000b", cur["v"][1]]
    out["cursor nul"] = c.get(f"/v1/contacts?sort=first_name&limit=1&cursor={b64(cur2)}", headers=h).status_code
    cur3 = dict(cur); cur3["v"] = ["\ud800", cur["v"][1]]
    out["cursor surrogate"] = c.get(f"/v1/contacts?sort=first_name&limit=1&cursor={b64(cur3)}", headers=h).status_code
    out["cursor deep"] = c.get(f"/v1/contacts?limit=1&cursor=" + base64.urlsafe_b64encode(('['*100000).encode()).decode(), headers=h).status_code
    for dec in ["sNaN", "NaN", "1E+999999", "Infinity", "-1e-999999"]:
        out["cursor dec " + dec] = c.get(f"/v1/contacts?sort=lead_score&limit=1&cursor={b64({'s':['lead_score','id'],'v':[{'t':'dec','v':dec}, cur['v'][1]]})}", headers=h).status_code
    # multipart with non-utf8 field names
    body = (b"--XX\r\nContent-Disposition: form-data; name=\"\xff\xfe\"\r\n\r\nv\r\n"
            b"--XX\r\nContent-Disposition: form-data; name=\"object\"\r\n\r\ncontacts\r\n"
            b"--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\xff.csv\"\r\nContent-Type: text/csv\r\n\r\nemail\r\na@b.com\r\n--XX--\r\n")
    r = c.post("/v1/imports", data=body, content_type="multipart/form-data; boundary=XX", headers=h)
    out["multipart"] = r.status_code
    body2 = (b"--XX\r\nContent-Disposition: form-data; name=\"object\"\r\n\r\ncont\xffacts\x00\r\n"
            b"--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\nemail\r\na@b.com\r\n--XX--\r\n")
    out["multipart value"] = c.post("/v1/imports", data=body2, content_type="multipart/form-data; boundary=XX", headers=h).status_code
    body3 = (b"--XX\r\nContent-Disposition: form-data; name=\"object\"\r\n\r\ncontacts\r\n--XX\r\nContent-Disposition: form-data; name=\"mapping\"\r\n\r\n{\"a\\u0000\": \"email\"}\r\n"
            b"--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\nemail\r\na@b.com\r\n--XX--\r\n")
    out["multipart mapping nul"] = c.post("/v1/imports", data=body3, content_type="multipart/form-data; boundary=XX", headers=h).status_code
    print(out)
