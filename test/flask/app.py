"""The seed's Flask-JWT-Extended service, small: users, items, the is_admin claims loader, the
expired/invalid loaders and a blocklist. Run by test/flask/interop.test.ts under gunicorn (one
worker, so the in-process blocklist is the whole blocklist), configured by the environment:
FLASK_DB (SQLite path), JWT_SECRET_KEY, and optionally JWT_TOKEN_LOCATION, JWT_ENCODE_ISSUER,
JWT_DECODE_ISSUER, JWT_ENCODE_AUDIENCE, JWT_DECODE_AUDIENCE (comma-separated)."""
import os
import sqlite3
from datetime import timedelta

from flask import Flask, g, jsonify, request
from flask_jwt_extended import (JWTManager, create_access_token, create_refresh_token, get_jwt,
                                get_jwt_identity, jwt_required, set_access_cookies,
                                set_refresh_cookies, unset_jwt_cookies)

app = Flask(__name__)
app.config['JWT_SECRET_KEY'] = os.environ['JWT_SECRET_KEY']
app.config['JWT_TOKEN_LOCATION'] = os.environ.get('JWT_TOKEN_LOCATION', 'headers').split(',')
app.config['JWT_COOKIE_SECURE'] = False
app.config['JWT_ACCESS_TOKEN_EXPIRES'] = timedelta(minutes=15)
for name in ('JWT_ENCODE_ISSUER', 'JWT_DECODE_ISSUER'):
    if os.environ.get(name):
        app.config[name] = os.environ[name]
for name in ('JWT_ENCODE_AUDIENCE', 'JWT_DECODE_AUDIENCE'):
    if os.environ.get(name):
        app.config[name] = os.environ[name].split(',')
jwt = JWTManager(app)
BLOCKLIST = set()


def db():
    if 'db' not in g:
        g.db = sqlite3.connect(os.environ['FLASK_DB'])
        g.db.execute('create table if not exists users (id integer primary key autoincrement, username text unique, password text)')
        g.db.execute('create table if not exists items (name text primary key, price real)')
    return g.db


@app.teardown_appcontext
def close_db(_error):
    connection = g.pop('db', None)
    if connection is not None:
        connection.commit()
        connection.close()


@jwt.additional_claims_loader
def add_claims(identity):
    # The seed's rule: user 1 is the admin.
    return {'is_admin': str(identity) == '1'}


@jwt.token_in_blocklist_loader
def in_blocklist(_header, payload):
    return payload['jti'] in BLOCKLIST


@jwt.expired_token_loader
def expired(_header, _payload):
    return jsonify(description='The token has expired.', error='token_expired'), 401


@jwt.invalid_token_loader
def invalid(reason):
    return jsonify(description=reason, error='invalid_token'), 401


@jwt.unauthorized_loader
def missing(reason):
    return jsonify(description=reason, error='authorization_required'), 401


@jwt.needs_fresh_token_loader
def not_fresh(_header, _payload):
    return jsonify(description='The token is not fresh.', error='fresh_token_required'), 401


@jwt.revoked_token_loader
def revoked(_header, _payload):
    return jsonify(description='The token has been revoked.', error='token_revoked'), 401


@app.post('/register')
def register():
    body = request.get_json()
    cursor = db().execute('insert into users (username, password) values (?, ?)', (body['username'], body['password']))
    return jsonify(message='User created successfully.', id=cursor.lastrowid), 201


@app.post('/login')
def login():
    body = request.get_json()
    row = db().execute('select id, password from users where username = ?', (body['username'],)).fetchone()
    if row is None or row[1] != body['password']:
        return jsonify(message='Invalid Credentials!'), 401
    access = create_access_token(identity=str(row[0]), fresh=True)
    refresh = create_refresh_token(identity=str(row[0]))
    response = jsonify(access_token=access, refresh_token=refresh)
    set_access_cookies(response, access)
    set_refresh_cookies(response, refresh)
    return response


@app.post('/refresh')
@jwt_required(refresh=True)
def refresh():
    access = create_access_token(identity=get_jwt_identity(), fresh=False)
    response = jsonify(access_token=access)
    set_access_cookies(response, access)
    return response


@app.post('/logout')
@jwt_required()
def logout():
    BLOCKLIST.add(get_jwt()['jti'])
    response = jsonify(message='Successfully logged out.')
    unset_jwt_cookies(response)
    return response


@app.get('/user/<int:user_id>')
@jwt_required()
def get_user(user_id):
    row = db().execute('select id, username from users where id = ?', (user_id,)).fetchone()
    if row is None:
        return jsonify(message='User not found.'), 404
    return jsonify(id=row[0], username=row[1], whoami=get_jwt_identity())


@app.get('/items')
@jwt_required(optional=True)
def items():
    names = [row[0] for row in db().execute('select name from items order by name')]
    if get_jwt_identity() is None:
        return jsonify(items=names, message='More data available if you log in.')
    return jsonify(items=names)


@app.get('/item/<name>')
@jwt_required()
def get_item(name):
    row = db().execute('select name, price from items where name = ?', (name,)).fetchone()
    if row is None:
        return jsonify(message='Item not found.'), 404
    return jsonify(name=row[0], price=row[1])


@app.post('/item/<name>')
@jwt_required(fresh=True)
def create_item(name):
    db().execute('insert or replace into items (name, price) values (?, ?)', (name, request.get_json()['price']))
    return jsonify(name=name, price=request.get_json()['price']), 201


@app.put('/item/<name>')
@jwt_required()
def put_item(name):
    db().execute('insert or replace into items (name, price) values (?, ?)', (name, request.get_json()['price']))
    return jsonify(name=name, price=request.get_json()['price']), 200


@app.delete('/item/<name>')
@jwt_required()
def delete_item(name):
    if not get_jwt().get('is_admin'):
        return jsonify(message='Admin privilege required.', error='admin_required'), 401
    db().execute('delete from items where name = ?', (name,))
    return jsonify(message='Item deleted.')
