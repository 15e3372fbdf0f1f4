import marshmallow as ma

from app.http.openapi import ResponseSchema


class LoginSchema(ma.Schema):
    identifier = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=254),
                                  metadata={"description": "Email address or mobile number"})
    password = ma.fields.String(required=True, load_only=True,
                                validate=ma.validate.Length(min=1, max=128))


class TokenPairSchema(ResponseSchema):
    access_token = ma.fields.String(required=True)
    refresh_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = ma.fields.Integer(required=True,
                                   metadata={"description": "Access token lifetime, seconds"})
