"""The wire: everything about how a request and a response look on the network.

Owns decoding (JSON or XML into a dict), the XML mapping, the envelope, error rendering,
the body-size limit, token extraction and ``format`` negotiation. Nothing outside this
package knows whether a request came as XML or JSON.
"""
