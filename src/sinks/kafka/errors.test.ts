// How the kafka sink reads the client library's errors: by broker code and error class, never by message text.
import { AuthenticationError, MultipleErrors, NetworkError, ProtocolError, TimeoutError } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { classifyKafkaError } from './sink.js';

const wrapped = (e: Error): Error => new MultipleErrors('Producing messages failed.', [new MultipleErrors('produce failed 3 times.', [e, e, e])]);

describe('kafka error classification', () => {
  it('a broker refusing the size (or the record) is "refused": split, then dead-lettered', () => {
    for (const id of ['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD']) {
      expect(classifyKafkaError(wrapped(new ProtocolError(id, 'too big')))).toMatchObject({ kind: 'refused', code: id });
    }
  });

  it('SASL, ACLs and unknown topics are the operator\'s to fix, naming the key', () => {
    expect(classifyKafkaError(wrapped(new ProtocolError('SASL_AUTHENTICATION_FAILED', 'bad creds')))).toMatchObject({ kind: 'config', detail: expect.stringMatching(/bad creds.*sasl\.username and sasl\.password/) as unknown });
    expect(classifyKafkaError(new AuthenticationError('SCRAM proof mismatch'))).toMatchObject({ kind: 'config', code: 'PLT_KFK_AUTHENTICATION' });
    expect(classifyKafkaError(wrapped(new ProtocolError('TOPIC_AUTHORIZATION_FAILED')))).toMatchObject({ kind: 'config', detail: expect.stringMatching(/ACL/) as unknown });
    expect(classifyKafkaError(wrapped(new ProtocolError('UNKNOWN_TOPIC_OR_PARTITION')))).toMatchObject({ kind: 'config', detail: expect.stringMatching(/fix topic/) as unknown });
  });

  it('a broken producer session means a new producer, then a retry', () => {
    expect(classifyKafkaError(wrapped(new ProtocolError('OUT_OF_ORDER_SEQUENCE_NUMBER')))).toMatchObject({ kind: 'producer' });
    expect(classifyKafkaError(wrapped(new ProtocolError('INVALID_PRODUCER_EPOCH')))).toMatchObject({ kind: 'producer' });
  });

  it('a broker down, busy, or slow is retried by the runner', () => {
    expect(classifyKafkaError(wrapped(new NetworkError('Connection to 127.0.0.1:9092 failed.')))).toMatchObject({ kind: 'retryable' });
    expect(classifyKafkaError(new TimeoutError('Request timed out'))).toMatchObject({ kind: 'retryable' });
    expect(classifyKafkaError(wrapped(new ProtocolError('NOT_ENOUGH_REPLICAS')))).toMatchObject({ kind: 'retryable', code: 'NOT_ENOUGH_REPLICAS' });
  });

  it('a TLS verification failure names tls.ca_file', () => {
    const cause = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(classifyKafkaError(new NetworkError('Connection failed', { cause }))).toMatchObject({ kind: 'config', code: 'DEPTH_ZERO_SELF_SIGNED_CERT', detail: expect.stringMatching(/tls\.ca_file/) as unknown });
  });
});
