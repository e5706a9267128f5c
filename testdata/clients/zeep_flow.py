#!/usr/bin/python3
"""A kiosk flow driven by python3-zeep, a SOAP client that is not part of the
project, from the WSDL and the demo kit alone.

usage: zeep_flow.py KIT_DIR CARD_ID OUT_PDF

The card's signature (RSA PKCS#1 v1.5 SHA-256 over challenge || sessionId) is
made with the openssl command line, as a card reader's middleware would make
it with the card.
"""
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timezone

import requests
from zeep import Client, Settings
from zeep.transports import Transport

NS = "{urn:jp:lg:issuance:wide-area:v4}"


def main():
    kit, card_id, out = sys.argv[1:4]
    endpoints = json.load(open(os.path.join(kit, "endpoints.json")))
    card = next(c for c in json.load(open(os.path.join(kit, "cards.json"))) if c["id"] == card_id)
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE and proxies from the environment must not apply
    session.cert = (os.path.join(kit, endpoints["clientCert"]), os.path.join(kit, endpoints["clientKey"]))
    session.verify = os.path.join(kit, endpoints["caBundle"])
    client = Client(endpoints["wsdl"], transport=Transport(session=session), settings=Settings(strict=True))
    service = client.service
    header = client.get_element(NS + "RequestHeader")

    def hdr():
        return header(requestId=str(uuid.uuid4()), lgCode=card["lgCode"], terminalId="ZEEP-1",
                      operatorCode="ZEEP", sentAt=datetime.now(timezone.utc))

    def call(op, **kw):
        # The WSDL declares a ResponseHeader, so zeep answers {body, header}.
        # A careful centre checks the answer is bound to its request.
        sent = hdr()
        answer = getattr(service, op)(_soapheaders=[sent], **kw)
        assert answer.header.header.requestId == sent.requestId, (op, answer.header)
        return answer.body

    begin = call("BeginSession", terminalId="ZEEP-1")
    message = begin.challenge + begin.sessionId.encode("utf-8")
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", os.path.join(kit, card["authKey"])],
                               input=message, capture_output=True, check=True).stdout
    cert_pem = open(os.path.join(kit, card["authCert"])).read()
    cert_der = subprocess.run(["openssl", "x509", "-outform", "DER"], input=cert_pem.encode(),
                              capture_output=True, check=True).stdout
    menu = call("Authenticate", sessionId=begin.sessionId, userCertificate=cert_der, signature=signature).menu
    offer = next(o for o in menu if o.type == "JUMINHYO")
    assert offer.available, offer
    cert = call("RequestCertificate", sessionId=begin.sessionId, type="JUMINHYO", options={"scope": "SELF"}, copies=1)
    status = call("ConfirmIssuance", issuanceId=cert.issuanceId, outcome="PRINTED").status
    assert status == "ISSUED", status
    call("EndSession", sessionId=begin.sessionId)
    open(out, "wb").write(cert.pdf)
    print("issuance", cert.issuanceId, "fee", cert.fee, "status", status)


if __name__ == "__main__":
    main()
